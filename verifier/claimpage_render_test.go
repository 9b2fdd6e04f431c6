package verifier

import (
	"reflect"
	"testing"
)

// Every field of a view the page shows is in its key: two views that
// differ in any one of them are never served the same kept page. A field
// added to the view (or to a node) without being written to the key
// fails here.
func TestViewKeyCoversEveryField(t *testing.T) {
	base := func() claimPageView {
		return claimPageView{
			Status: "open", Title: "Spring", Left: 3, Total: 4, Identity: "device", Until: "2030-01-01T00:00:00Z",
			Nodes: []claimNode{{ID: "north", Name: "North", Left: 3, Deadline: "Pick up within 4 h", Checked: true}},
			Data: map[string]any{"code": "ABC", "left": int64(3), "per_viewer": 1, "until_closes": false,
				"nodes": []map[string]any{{"id": "north", "left": int64(3)}}},
			serverTime: "2030-01-01T00:00:00.5Z",
		}
	}
	keyOf := func(v *claimPageView) string {
		t.Helper()
		k, ok := appendViewKey(nil, v)
		if !ok {
			t.Fatalf("view %+v not keyed", v)
		}
		return string(k)
	}
	b := base()
	want := keyOf(&b)

	// changed sets a field to a value other than the base view's.
	changed := func(f reflect.Value) {
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int64, reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		default:
			t.Fatalf("a field of kind %v: teach this test (and appendViewKey) about it", f.Kind())
		}
	}
	vt := reflect.TypeFor[claimPageView]()
	for i := range vt.NumField() {
		sf := vt.Field(i)
		v := base()
		f := reflect.ValueOf(&v).Elem().Field(i)
		switch sf.Name {
		case "serverTime":
			// Not in the key: it is put into the kept page.
			v.serverTime = "2031-01-01T00:00:00Z"
			if keyOf(&v) != want {
				t.Errorf("the server time changes the key")
			}
			continue
		case "Claimed":
			continue // a page with a receipt is never kept
		case "Data":
			for _, change := range []func(map[string]any){
				func(d map[string]any) { d["code"] = "ABD" },
				func(d map[string]any) { d["left"] = int64(2) },
				func(d map[string]any) { d["per_viewer"] = 2 },
				func(d map[string]any) { d["until_closes"] = true },
				func(d map[string]any) { d["drop"] = "other" },
				func(d map[string]any) { d["nodes"] = []map[string]any{{"id": "north", "left": int64(2)}} },
				func(d map[string]any) {
					d["nodes"] = []map[string]any{{"id": "north", "left": int64(3), "region": "eu"}}
				},
			} {
				v := base()
				change(v.Data)
				if keyOf(&v) == want {
					t.Errorf("a change of the script data %v keeps the key", v.Data)
				}
			}
			continue
		case "Nodes":
			nt := reflect.TypeFor[claimNode]()
			for j := range nt.NumField() {
				v := base()
				changed(reflect.ValueOf(&v.Nodes[0]).Elem().Field(j))
				if keyOf(&v) == want {
					t.Errorf("node field %s is not in the key", nt.Field(j).Name)
				}
			}
			v.Nodes = append(v.Nodes, claimNode{})
			if keyOf(&v) == want {
				t.Errorf("an added node keeps the key")
			}
			continue
		}
		changed(f)
		if keyOf(&v) == want {
			t.Errorf("field %s is not in the key", sf.Name)
		}
	}

	// Keys do not depend on the order a map is walked in.
	for range 20 {
		v := base()
		if keyOf(&v) != want {
			t.Fatal("the same view keyed twice differently")
		}
	}
	// Strings are delimited: moving text from one field to the next
	// changes the key.
	x, y := base(), base()
	x.Title, x.Description = "ab", "c"
	y.Title, y.Description = "a", "bc"
	if keyOf(&x) == keyOf(&y) {
		t.Error("moving text between fields keeps the key")
	}
	// Data of a type the key does not know is not kept.
	v := base()
	v.Data["odd"] = 1.5
	if _, ok := appendViewKey(nil, &v); ok {
		t.Error("a view with a float in its data was keyed")
	}
}
