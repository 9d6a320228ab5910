// One row per page view: key [page_type, year, month, day, hour] (UTC), value the
// generation time in ms.
function (doc) {
  var key = (__LIB_page_view_key__)(doc);
  if (key !== null) emit(key, doc.generation_time);
}
