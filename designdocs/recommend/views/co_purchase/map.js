// Every ordered pair of distinct items bought in one order: key [a, b], value 1.
// Grouped, startkey=[a]&endkey=[a,{}] gives n_ab for every b bought with a.
function (doc) {
  var items = (__LIB_paired_items__)((__LIB_order_items__)(doc));
  for (var i = 0; i < items.length; i++) {
    for (var j = 0; j < items.length; j++) {
      if (i !== j) emit([items[i], items[j]], 1);
    }
  }
}
