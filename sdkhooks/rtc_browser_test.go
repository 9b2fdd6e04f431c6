package sdkhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// rtcTestPage is what a creator-side browser SDK does: a complete offer
// with the events channel, POSTed with a bearer token (from another origin:
// CORS), the answer, one trigger, its ack, then DELETE.
const rtcTestPage = `<!doctype html>
<meta charset="utf-8"><title>dropwire rtc test</title>
<script>
async function dropwire(url, token, msg) {
  const pc = new RTCPeerConnection();
  const dc = pc.createDataChannel("dropwire-events", {ordered: true});
  const opened = new Promise((ok, fail) => { dc.onopen = ok; dc.onerror = fail; });
  const acked = new Promise(ok => { dc.onmessage = e => ok(e.data); });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(ok => {
    if (pc.iceGatheringState === "complete") return ok();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") ok(); };
  });
  const resp = await fetch(url, {method: "POST", body: pc.localDescription.sdp,
    headers: {"Content-Type": "application/sdp", "Authorization": "Bearer " + token}});
  const answer = await resp.text();
  if (resp.status !== 201) return JSON.stringify({error: resp.status + " " + answer});
  const location = new URL(resp.headers.get("Location"), url).href;
  await pc.setRemoteDescription({type: "answer", sdp: answer});
  await opened;
  dc.send(msg);
  const ack = await acked;
  const del = await fetch(location, {method: "DELETE", headers: {"Authorization": "Bearer " + token}});
  pc.close();
  return JSON.stringify({ack: JSON.parse(ack), deleted: del.status});
}
</script>`

// A real headless Chromium opens the data channel, sends a trigger, gets
// "accepted", and the moment is open in the store.
func TestRTCBrowser(t *testing.T) {
	e := newRTCEnv(t, storetest.Redis(t), nil)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(rtcTestPage))
	}))
	t.Cleanup(page.Close)

	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{WebRTC: true}), 60*time.Second)
	defer cancel()
	args, _ := json.Marshal([]string{e.url + "/v1/rtc/cap", rtcToken(t, "cap", time.Hour), rtcTrigger("web-1", "m-web")})
	if _, err := chromedp.Run(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string]("dropwire(..."+string(args)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct {
		Error   string
		Ack     Ack
		Deleted int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Error != "" {
		t.Fatalf("page result %q: %v", out, err)
	}
	if res.Ack.Ack != "web-1" || res.Ack.Status != verifier.StatusAccepted || res.Ack.Moment == nil || res.Ack.Moment.State != verifier.MomentOpened {
		t.Fatalf("ack %+v", res.Ack)
	}
	if res.Deleted != http.StatusNoContent {
		t.Errorf("DELETE from the page: %d", res.Deleted)
	}
	st, err := e.v.State(context.Background(), "spring")
	if err != nil || st.Status != verifier.StatusOpen || st.Moment != "m-web" || st.Channel != verifier.ChannelDataChannel {
		t.Fatalf("state %+v, %v", st, err)
	}
	waitPeers(t, e.rtc, 0, 5*time.Second)
}
