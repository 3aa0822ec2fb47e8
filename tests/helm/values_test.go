// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryValueIsUsed keeps the chart honest: each value of values.yaml must change what the chart renders
// (or make it refuse the values) in at least one of the documented values sets, so no value is dead.
// Leaves are the keys the schema describes no further (scalars, lists, and Kubernetes objects passed through).
func TestEveryValueIsUsed(t *testing.T) {
	defaults := readValues(t, filepath.Join(chartDir, "values.yaml"))
	var schema map[string]any
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var leaves [][]string
	collectLeaves(nil, defaults, schema, &leaves)
	if len(leaves) < 100 {
		t.Fatalf("found only %d values; the walk is broken", len(leaves))
	}

	contexts := testCases(t)
	baseline := make([]string, len(contexts))
	for i, c := range contexts {
		baseline[i] = renderOutcome(t, c.vals)
	}
	for _, leaf := range leaves {
		used := false
		for i, c := range contexts {
			vals := deepCopy(c.vals)
			mutate(vals, defaults, leaf)
			if renderOutcome(t, vals) != baseline[i] {
				used = true
				break
			}
		}
		if !used {
			t.Errorf("value %s changes nothing the chart renders, in any values set", strings.Join(leaf, "."))
		}
	}
}

// renderOutcome is the rendered manifest and notes, or the error (schema validation off: a mutated value
// need not be valid, only noticed).
func renderOutcome(t *testing.T, vals map[string]any) string {
	m, notes, err := render(t, vals, renderOpts{skipSchema: true})
	if err != nil {
		return "error: " + err.Error()
	}
	return m + "\n---notes---\n" + notes
}

// collectLeaves walks values.yaml along the schema: an object the schema lists properties of is walked into;
// anything else is a leaf.
func collectLeaves(path []string, v any, schema map[string]any, out *[][]string) {
	props, _ := schema["properties"].(map[string]any)
	m, isMap := v.(map[string]any)
	if !isMap || props == nil {
		*out = append(*out, slices.Clone(path))
		return
	}
	for _, k := range sortedKeys(m) {
		sub, _ := props[k].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		collectLeaves(append(path, k), m[k], sub, out)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mutate changes the value at path in vals (taking the default when vals does not set it) to another value
// of the same kind.
func mutate(vals, defaults map[string]any, path []string) {
	cur := lookup(vals, path)
	if cur == nil {
		cur = lookup(defaults, path)
	}
	var next any
	switch v := cur.(type) {
	case bool:
		next = !v
	case float64:
		next = v + 1
	case int64:
		next = v + 1
	case int:
		next = v + 1
	case string:
		if v == "" {
			next = "x1"
		} else {
			next = v + "1"
		}
	case map[string]any:
		c := deepCopy(v)
		c["x1"] = "1"
		next = c
	case []any:
		c := slices.Clone(v)
		if len(c) > 0 {
			c = append(c, c[len(c)-1])
		} else {
			c = append(c, map[string]any{"name": "x1"})
		}
		next = c
	default:
		panic(fmt.Sprintf("%s: unexpected %T", strings.Join(path, "."), cur))
	}
	m := vals
	for _, k := range path[:len(path)-1] {
		sub, ok := m[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[k] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = next
}

func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}
