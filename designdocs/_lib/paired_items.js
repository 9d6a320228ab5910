// The items of an order that enter co-purchase pairs: the first 50 distinct ones.
// Pairs grow with the square of the basket (50 items: 2,450 rows); a larger basket
// still counts every item in item_purchases, and is counted in orders' "capped_baskets".
function (items) {
  return items.slice(0, 50);
}
