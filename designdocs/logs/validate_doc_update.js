// Refuses log documents that break couchrec's schema, whoever writes them.
// SCHEMA is loader/logs/schema.py's SCHEMA, injected by the design-doc compiler, so
// this file and the service apply one set of rules with the same messages.
function (newDoc, oldDoc, userCtx, secObj) {
  var SCHEMA = __COUCHREC_SCHEMA__;

  function fail(field, reason) {
    throw({forbidden: field + ": " + reason});
  }

  function isList(value) {
    return Object.prototype.toString.call(value) === "[object Array]";
  }

  function depth(value) {  // 1 for a flat object or array
    if (typeof value !== "object" || value === null) return 0;
    var deepest = 0;
    for (var name in value) deepest = Math.max(deepest, depth(value[name]));
    return deepest + 1;
  }

  function fullMatch(pattern, value) {
    return new RegExp(pattern).test(value);
  }

  function checkValue(value, kindName, field) {
    if (kindName === "log_type") return;
    var kind = SCHEMA.kinds[kindName];
    if (kind.type === "string") {
      if (typeof value !== "string") fail(field, "must be a string");
      if (value.length > kind.max_length) fail(field, "must be at most " + kind.max_length + " characters");
      if (!fullMatch(kind.pattern, value)) fail(field, kind.hint);
    } else if (kind.type === "number" || kind.type === "integer") {
      if (typeof value !== "number" || !isFinite(value)) {
        fail(field, kind.type === "integer" ? "must be an integer" : "must be a number");
      }
      if (kind.type === "integer" && Math.floor(value) !== value) fail(field, "must be an integer");
      if (value < kind.min || value > kind.max) fail(field, "must be between " + kind.min + " and " + kind.max);
    } else if (kind.type === "enum") {
      if (kind.values.indexOf(value) < 0) fail(field, "must be one of: " + kind.values.join(", "));
    } else if (kind.type === "object") {
      if (typeof value !== "object" || value === null || isList(value)) fail(field, "must be an object");
      if (JSON.stringify(value).length > kind.max_bytes) {
        fail(field, "must be at most " + kind.max_bytes + " characters of JSON");
      }
      if (depth(value) > kind.max_depth) {
        fail(field, "must nest at most " + kind.max_depth + " levels deep");
      }
    } else if (kind.type === "basket") {
      checkBasket(value, kind.max_items, field);
    }
  }

  function checkFields(obj, required, optional, prefix, owner) {
    var name;
    for (name in obj) {
      if (name.charAt(0) === "_" && prefix === "") continue;
      if (!required.hasOwnProperty(name) && !optional.hasOwnProperty(name)) {
        fail(prefix + name, "is not a field of " + owner);
      }
    }
    for (name in required) {
      if (obj[name] === undefined || obj[name] === null) fail(prefix + name, "is required");
      checkValue(obj[name], required[name], prefix + name);
    }
    for (name in optional) {
      if (obj[name] !== undefined && obj[name] !== null) checkValue(obj[name], optional[name], prefix + name);
    }
  }

  function checkBasket(value, maxItems, field) {
    if (!isList(value) || value.length < 1 || value.length > maxItems) {
      fail(field, "must be a list of 1 to " + maxItems + " items");
    }
    for (var i = 0; i < value.length; i++) {
      var where = field + "[" + i + "]";
      var line = value[i];
      if (typeof line === "object" && line !== null && !isList(line)) {
        checkFields(line, SCHEMA.basket_line.required, SCHEMA.basket_line.optional, where + ".", "a basket line");
      } else if (typeof line === "string") {
        checkValue(line, "ref", where);
      } else {
        fail(where, "must be an item id or an object with item_id");
      }
    }
  }

  function merged(a, b) {
    var out = {}, name;
    for (name in a) out[name] = a[name];
    for (name in b) out[name] = b[name];
    return out;
  }

  if (newDoc._deleted) return;
  if (newDoc._id.indexOf("_design/") === 0) return;
  if (newDoc._id.length > SCHEMA.id.max_length) {
    fail("_id", "must be at most " + SCHEMA.id.max_length + " characters");
  }
  if (!fullMatch(SCHEMA.id.pattern, newDoc._id)) fail("_id", "may hold only letters, digits and . _ ~ : @ + = -");

  var logType = newDoc.log_type;
  if (logType === undefined || logType === null) fail("log_type", "is required");
  if (!SCHEMA.log_types.hasOwnProperty(logType)) {
    fail("log_type", "must be one of: " + Object.keys(SCHEMA.log_types).sort().join(", "));
  }
  var spec = SCHEMA.log_types[logType];
  checkFields(
    newDoc,
    merged(SCHEMA.common.required, spec.required),
    merged(SCHEMA.common.optional, spec.optional),
    "",
    "a " + logType + " log"
  );
}
