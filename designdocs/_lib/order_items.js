// The distinct item ids of an order, in basket order: a checkout's items (ids or
// {item_id, ...} lines), or the one item of a purchase (an order of one).
function (doc) {
  var lines, ids = [], seen = {}, i, id;
  if (doc.log_type === "purchase") lines = [doc.item_id];
  else if (doc.log_type === "checkout" && Object.prototype.toString.call(doc.items) === "[object Array]") lines = doc.items;
  else return ids;
  for (i = 0; i < lines.length; i++) {
    id = lines[i] !== null && typeof lines[i] === "object" ? lines[i].item_id : lines[i];
    if (typeof id === "string" && !seen.hasOwnProperty("$" + id)) {
      seen["$" + id] = true;
      ids.push(id);
    }
  }
  return ids;
}
