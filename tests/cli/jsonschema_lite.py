#!/usr/bin/env python3
"""A JSON Schema validator for the subset docs/report.schema.json uses, in the
standard library only (the test suite may not install packages).

Supported keywords: type (a name or a list of names), enum, const, minimum,
properties, required, additionalProperties (bool or schema), items (one
schema), prefixItems, minItems, maxItems, oneOf, anyOf, $ref to "#/$defs/NAME" or
"#/definitions/NAME". Any other keyword is an error, so that the schema
cannot silently use something this validator ignores.

validate(instance, schema) returns a list of error strings, each naming the
JSON path of the offending value; an empty list means valid.
"""
import json
import sys

KNOWN = {"$schema", "$id", "$defs", "definitions", "title", "description", "type", "enum",
         "const", "minimum", "properties", "required", "additionalProperties", "items",
         "prefixItems", "minItems", "maxItems", "oneOf", "anyOf", "$ref"}


def _type_ok(value, name):
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError("unknown type name %r" % name)


class Validator:
    def __init__(self, root):
        self.root = root

    def resolve(self, ref):
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                section = prefix[2:-1]
                return self.root[section][ref[len(prefix):]]
        raise ValueError("unsupported $ref %r" % ref)

    def check(self, value, schema, path, errors):
        unknown = set(schema) - KNOWN
        if unknown:
            raise ValueError("%s: schema keywords not supported: %s" % (path, sorted(unknown)))
        if "$ref" in schema:
            self.check(value, self.resolve(schema["$ref"]), path, errors)
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_type_ok(value, n) for n in names):
                errors.append("%s: %r is not of type %s" % (path, value, "/".join(names)))
                return
        if "enum" in schema and value not in schema["enum"]:
            errors.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
        if "const" in schema and value != schema["const"]:
            errors.append("%s: %r is not %r" % (path, value, schema["const"]))
        if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
            errors.append("%s: %r is below %r" % (path, value, schema["minimum"]))
        if isinstance(value, dict):
            self.check_object(value, schema, path, errors)
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                errors.append("%s: fewer than %d items" % (path, schema["minItems"]))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                errors.append("%s: more than %d items" % (path, schema["maxItems"]))
            for i, sub in enumerate(schema.get("prefixItems", [])[:len(value)]):
                self.check(value[i], sub, "%s[%d]" % (path, i), errors)
            if "items" in schema:
                for i, item in enumerate(value):
                    self.check(item, schema["items"], "%s[%d]" % (path, i), errors)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                matches = sum(1 for s in schema[key] if not self.errors_of(value, s, path))
                if (key == "oneOf" and matches != 1) or (key == "anyOf" and matches == 0):
                    errors.append("%s: matches %d of the %s alternatives" % (path, matches, key))

    def check_object(self, value, schema, path, errors):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: missing required %r" % (path, name))
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            sub = "%s.%s" % (path, name)
            if name in props:
                self.check(v, props[name], sub, errors)
            elif extra is False:
                errors.append("%s: property not allowed" % sub)
            elif isinstance(extra, dict):
                self.check(v, extra, sub, errors)

    def errors_of(self, value, schema, path):
        errors = []
        self.check(value, schema, path, errors)
        return errors


def validate(instance, schema):
    return Validator(schema).errors_of(instance, schema, "$")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: jsonschema_lite.py SCHEMA.json DOCUMENT.json")
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    with open(sys.argv[2]) as f:
        doc = json.load(f)
    errs = validate(doc, schema)
    for e in errs:
        print(e)
    sys.exit(1 if errs else 0)
