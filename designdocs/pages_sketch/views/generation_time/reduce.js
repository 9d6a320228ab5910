// A mergeable summary of generation times: count, sum, sumsqr, min, max and a
// sparse log-bucket histogram (a DDSketch). Bucket i holds values in
// (GAMMA^(i-1), GAMMA^i]; reporting 2*GAMMA^i/(GAMMA+1) for it is within 2 % of
// any value in it. Values under 0.001 ms count in `zero`. Past MAX_BUCKETS the
// lowest buckets fold into the lowest kept one, so the JSON stays under ~3.5 kB
// (CouchDB's reduce_limit starts at 4096 bytes) and only percentiles that fall
// in the folded low end lose accuracy. Folding depends only on the set of
// occupied buckets, so any split and regrouping of rows gives the same summary.
function (keys, values, rereduce) {
  var GAMMA = 1.0408163265306123; // (1 + 0.02) / (1 - 0.02)
  var MIN_TRACKED = 0.001;
  var MAX_BUCKETS = 180;
  var LOG_GAMMA = Math.log(GAMMA);
  var out = {count: 0, sum: 0, sumsqr: 0, min: null, max: null, zero: 0, gamma: GAMMA, buckets: {}};
  var i, name;

  function addBucket(index, n) {
    out.buckets[index] = (out.buckets[index] || 0) + n;
  }
  function widen(lo, hi) {
    if (out.min === null || lo < out.min) out.min = lo;
    if (out.max === null || hi > out.max) out.max = hi;
  }

  for (i = 0; i < values.length; i++) {
    var v = values[i];
    if (rereduce) {
      if (!v.count) continue;
      out.count += v.count;
      out.sum += v.sum;
      out.sumsqr += v.sumsqr;
      out.zero += v.zero;
      widen(v.min, v.max);
      for (name in v.buckets) addBucket(name, v.buckets[name]);
    } else {
      out.count += 1;
      out.sum += v;
      out.sumsqr += v * v;
      widen(v, v);
      if (v < MIN_TRACKED) out.zero += 1;
      else addBucket(Math.ceil(Math.log(v) / LOG_GAMMA), 1);
    }
  }

  var indexes = Object.keys(out.buckets).map(Number).sort(function (a, b) { return a - b; });
  if (indexes.length > MAX_BUCKETS) {
    var floor = indexes[indexes.length - MAX_BUCKETS];
    for (i = 0; indexes[i] < floor; i++) {
      out.buckets[floor] += out.buckets[indexes[i]];
      delete out.buckets[indexes[i]];
    }
  }
  return out;
}
