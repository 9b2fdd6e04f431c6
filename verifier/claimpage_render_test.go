package verifier

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Every field of a view the page shows (its script data is made of them
// too) is in its key: two views that differ in any one of them are never
// served the same kept page. A field added to the view (or to a node)
// without being written to the key fails here.
func TestViewKeyCoversEveryField(t *testing.T) {
	base := func() claimPageView {
		return claimPageView{
			Code: "ABC", Drop: "spring", PerViewer: 1,
			Status: "open", Title: "Spring", Left: 3, Total: 4, Identity: "device", Until: "2030-01-01T00:00:00Z",
			Nodes:      []claimNode{{ID: "north", Name: "North", Left: 3, Deadline: "Pick up within 4 h", Checked: true}},
			serverTime: "2030-01-01T00:00:00.5Z",
		}
	}
	keyOf := func(v *claimPageView) string { return string(appendViewKey(nil, v)) }
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
		case "Claimed", "extra":
			continue // a page with anything of one viewer is never kept
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

	// Strings are delimited: moving text from one field to the next
	// changes the key.
	x, y := base(), base()
	x.Title, x.Description = "ab", "c"
	y.Title, y.Description = "a", "bc"
	if keyOf(&x) == keyOf(&y) {
		t.Error("moving text between fields keeps the key")
	}
}

// The data the page hands its script has the members claim.js reads,
// made from the view: all of them for a drop's page, the code and the
// status alone for a code that is no drop's.
func TestClaimPageScriptData(t *testing.T) {
	e := newAPIEnv(t, storetest.Redis(t), ViewersConfig{}, nil, claimDrop("spring", 2, 0))
	e.open(t, "spring")
	data := pageData(t, e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string))
	until, _ := data["until"].(string)
	server, _ := data["server_time"].(string)
	delete(data, "until")
	delete(data, "server_time")
	got, _ := json.Marshal(data)
	want := `{"code":"open-spring","drop":"spring","identity":"device","left":2,` +
		`"nodes":[{"id":"north","left":2,"region":"eu-north"},{"id":"south","left":0,"region":"eu-south"}],` +
		`"per_viewer":1,"status":"open","total":2,"until_closes":false}`
	if string(got) != want {
		t.Errorf("open page data\n got %s\nwant %s", got, want)
	}
	if _, err := time.Parse(time.RFC3339Nano, until); err != nil {
		t.Errorf("until %q: %v", until, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, server); err != nil {
		t.Errorf("server_time %q: %v", server, err)
	}

	e.claim(t, viewerClient(t), "open-spring", "a")
	e.claim(t, viewerClient(t), "open-spring", "b")
	data = pageData(t, e.do(t, viewerClient(t), "GET", "/c/open-spring", "", nil).body["html"].(string))
	if at, _ := data["sold_out_at"].(string); data["status"] != "sold_out" || at == "" {
		t.Errorf("sold-out page data: %v", data)
	}

	data = pageData(t, e.do(t, viewerClient(t), "GET", "/c/ZZZZZZZZZZ", "", nil).body["html"].(string))
	if got, _ := json.Marshal(data); string(got) != `{"code":"ZZZZZZZZZZ","status":"unknown"}` {
		t.Errorf("unknown code page data: %s", got)
	}
}
