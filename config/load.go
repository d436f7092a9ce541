package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one Parse visits, so that aliases
// pointing at large values cannot make decoding explode.
const maxNodes = 1_000_000

var durationType = reflect.TypeFor[Duration]()

// Load reads the YAML file at path, expands ${VAR} and ${VAR:-default} from
// the environment in scalar values, decodes it strictly, applies defaults
// and validates. Errors name the file and the dotted path of each bad field.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	return Parse(data, path, os.Getenv)
}

// Parse does what Load does, from data. Name (usually the file path) starts
// every error message, and getenv resolves ${VAR} references and the
// environment fallbacks of settings the file leaves unset (CORS_ORIGINS);
// Parse reads nothing else, so it is pure given getenv. An empty document, or one with
// only comments, gives the defaults and no targets.
func Parse(data []byte, name string, getenv func(string) string) (*Config, error) {
	prefix := func(err error) error {
		if name == "" {
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, prefix(errors.New(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, prefix(errors.New("only one YAML document is allowed"))
	}

	c := &Config{}
	d := &decoder{getenv: getenv}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		d.decode(root.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	if err := c.Server.corsFromEnv(getenv); err != nil {
		d.errs = append(d.errs, err)
	}
	if len(d.errs) > 0 {
		errs := make([]error, len(d.errs))
		for i, e := range d.errs {
			errs[i] = prefix(e)
		}
		return nil, errors.Join(errs...)
	}

	c.setDefaults()
	c.TargetOrder = targetOrder(&root)
	if problems := c.problems(); len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, e := range problems {
			errs[i] = prefix(e)
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// fieldError is one problem with one field of the configuration.
type fieldError struct {
	path string // dotted path, such as targets.openai.timeout_ms; "" for the whole document
	line int    // 1-based line in the file; 0 when unknown
	msg  string
	hint string // said after the line, if not empty
}

// Error returns "path: msg (line N); hint".
func (e *fieldError) Error() string {
	var b strings.Builder
	if e.path != "" {
		b.WriteString(e.path + ": ")
	}
	b.WriteString(e.msg)
	if e.line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.line)
	}
	if e.hint != "" {
		b.WriteString("; " + e.hint)
	}
	return b.String()
}

// decoder decodes a yaml.Node tree into Go values by reflection: structs by
// their yaml tags (unknown keys are errors), maps with string keys, slices,
// pointers, and leaves through yaml's own scalar decoding. It records every
// error with its path instead of stopping at the first.
type decoder struct {
	getenv func(string) string
	nodes  int
	errs   []*fieldError
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &fieldError{path: path, line: n.Line, msg: fmt.Sprintf(format, args...)})
}

// decode stores value node n in v.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.fail(n, path, "document too large (more than %d values after aliases)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == secretType {
		d.secret(n, v, path)
		return
	}
	if n.Kind == yaml.ScalarNode {
		d.scalar(n, v, path)
		return
	}
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case v.Kind() == reflect.Struct && v.Type() != durationType:
		d.structure(n, v, path)
	case v.Kind() == reflect.Map:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.fail(n, path, "expected %s, got %s", typeName(v.Type()), describe(n))
	}
}

// structure decodes a mapping into a struct, field by field.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	d.entries(n, path, func(key string, value *yaml.Node, keyNode *yaml.Node) {
		p := join(path, key)
		f, ok := fieldByTag(v.Type(), key)
		if !ok {
			d.errs = append(d.errs, &fieldError{path: p, line: keyNode.Line, msg: "unknown field",
				hint: "known fields: " + strings.Join(tags(v.Type()), ", ")})
			return
		}
		d.decode(value, v.FieldByIndex(f.Index), p)
	})
}

// mapping decodes a mapping into a map with string keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.entries(n, path, func(key string, value *yaml.Node, _ *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(value, elem, join(path, key))
		v.SetMapIndex(reflect.ValueOf(key), elem)
	})
}

// entries calls f for each key of mapping n, after checking that the key
// is a plain scalar and not a repeat. Keys are never expanded.
func (d *decoder) entries(n *yaml.Node, path string, f func(key string, value, keyNode *yaml.Node)) {
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, value := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, "keys must be plain strings, got %s", describe(k))
		case k.ShortTag() == "!!merge":
			d.fail(k, path, "merge keys (<<) are not supported")
		case seen[k.Value] > 0:
			d.errs = append(d.errs, &fieldError{path: join(path, k.Value), line: k.Line, msg: "duplicate key",
				hint: fmt.Sprintf("first at line %d", seen[k.Value])})
		default:
			seen[k.Value] = k.Line
			f(k.Value, value, k)
		}
	}
}

// sequence decodes a sequence into a slice.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// scalar decodes scalar node n into v. It expands ${VAR} references first;
// a null, or a value that expands to "", leaves v as it is, so the field
// keeps its default. Errors quote the value as written, never the expanded
// one, which may come from a secret.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	value := n.Value
	if strings.Contains(value, "$") {
		var err error
		if value, err = expand(value, d.getenv); err != nil {
			d.fail(n, path, "%s", err)
			return
		}
	}
	if n.ShortTag() == "!!null" || (value == "" && n.Value != "") {
		return
	}
	shown := fmt.Sprintf("%q", n.Value)
	if value != n.Value {
		shown = fmt.Sprintf("the value of %q", n.Value)
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}

	switch kind := v.Kind(); {
	case v.Type() == durationType:
		dur, err := parseDuration(value)
		if err != nil {
			d.fail(n, path, "cannot use %s as a duration: %s", shown, err)
			return
		}
		v.Set(reflect.ValueOf(Duration{dur}))
	case kind == reflect.String:
		v.SetString(value)
	case kind == reflect.Int || kind == reflect.Int64 || kind == reflect.Float64 || kind == reflect.Bool:
		// Read numbers and booleans from the text, quoted or not, so that
		// "${PORT}" works; an explicit tag such as !!str still counts.
		x := yaml.Node{Kind: yaml.ScalarNode, Value: value}
		if n.Style&yaml.TaggedStyle != 0 {
			x.Tag = n.Tag
		}
		tag := x.ShortTag()
		ok := tag == "!!int" || // yaml.v3 would truncate 1.5 into an int
			(tag == "!!float" && kind == reflect.Float64) ||
			kind == reflect.Bool
		if !ok || x.Decode(v.Addr().Interface()) != nil {
			d.fail(n, path, "cannot use %s as %s", shown, typeName(v.Type()))
		}
	default:
		d.fail(n, path, "expected %s, got %s", typeName(v.Type()), describe(n))
	}
}

// fieldByTag finds the field of struct type t whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// tags lists the yaml names of struct type t's fields, in order.
func tags(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := tagName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names the kind of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

// typeName says what a leaf of type t expects, for error messages.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "a duration"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
