// How much, and how lately, each signed-in user bought each item, for several half-lives
// at once: key [user_id, item], value [2^((day - REF) / h) for h in 4, 7, 14, 30, 60 days]
// (day: the order's day since 1970-01-01 UTC; REF: 2024-01-01 = day 19723). Summed by
// _sum, a group=true range over [user_id] gives per item Σ 2^((d - REF) / h); divided by
// 2^((latest - REF) / h) that is the item's purchases, each halved every h days before
// `latest` (loader/recency.py). The exponent is capped at 960 so sums stay finite
// (2^1024 overflows): the 4-day column saturates after mid-2034, underflows before 2012.
function (doc) {
  if (typeof doc.user_id !== "string" || typeof doc.timestamp !== "string") return;
  var items = (__LIB_order_items__)(doc);
  if (!items.length) return;
  var t = doc.timestamp;
  var day = Date.UTC(+t.substr(0, 4), +t.substr(5, 2) - 1, +t.substr(8, 2)) / 86400000;
  var halfLives = [4, 7, 14, 30, 60], terms = [];
  for (var h = 0; h < halfLives.length; h++) terms.push(Math.pow(2, Math.min(960, (day - 19723) / halfLives[h])));
  for (var i = 0; i < items.length; i++) emit([doc.user_id, items[i]], terms);
}
