// One row per page view (key as generation_time_stats), value a histogram holding one
// count: bucket b of the window covers (GAMMA^(b+LOWEST-1), GAMMA^(b+LOWEST)], so 2 %
// relative error inside it; values outside fall into the edge buckets (whose figures
// are then bounded by the exact min/max). Summed by the builtin _sum, in Erlang on
// CouchDB. The form is chosen per server at install time (loader/designdocs/deploy.py):
// "object" {"<b>": 1}, summed key by key into a sparse histogram (CouchDB), or
// "array" [0, ..., 0, 1] with the 1 at position b, summed element-wise (PouchDB Server).
function (doc) {
  var H = __COUCHREC_HISTOGRAM__;
  var key = (__LIB_page_view_key__)(doc);
  if (key === null) return;
  var v = doc.generation_time;
  var b = v > 0 ? Math.ceil(Math.log(v) / Math.log(H.gamma)) - H.lowest : 0;
  b = Math.max(0, Math.min(H.buckets - 1, b));
  var value;
  if (H.form === "object") {
    value = {};
    value[b] = 1;
  } else {
    value = [];
    while (value.length < b) value.push(0);
    value.push(1);
  }
  emit(key, value);
}
