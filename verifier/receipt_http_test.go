package verifier

import (
	"context"
	"testing"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// What a claim's viewer is told about compensation, state by state: the
// policy until the pickup fails, then what was done.
func TestCompensationView(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cl     Claim
		policy string
		want   compensationView
	}{
		{"claimed, code policy", Claim{State: ClaimClaimed}, config.CompensationCode,
			compensationView{Kind: "code", Status: "not_failed", Text: compensationPolicy["code"]}},
		{"ready, webhook policy", Claim{State: ClaimReady}, config.CompensationWebhook,
			compensationView{Kind: "webhook", Status: "not_failed", Text: compensationPolicy["webhook"]}},
		{"unknown policy", Claim{State: ClaimClaimed}, "", compensationView{Kind: "none", Status: "not_failed", Text: compensationPolicy["none"]}},
		{"compensated with a code", Claim{State: ClaimCompensated, Compensation: "code", CompensationCode: "SORRY-1"}, config.CompensationCode,
			compensationView{Kind: "code", Status: "given", Code: "SORRY-1", Text: "The pickup did not work out. Here is your replacement code."}},
		{"pool empty", Claim{State: ClaimPickupFailed, Compensation: "pool_empty"}, config.CompensationCode,
			compensationView{Kind: "code", Status: "pool_empty", Text: "The pickup did not work out, and no replacement codes are left. Show this receipt to the creator to be compensated."}},
		{"webhook on its way", Claim{State: ClaimRejected, Compensation: "webhook"}, config.CompensationWebhook,
			compensationView{Kind: "webhook", Status: "pending", Text: "The pickup did not work out. The creator is being told; their answer will appear here."}},
		{"webhook answered for the viewer", Claim{State: ClaimCompensated, Compensation: "webhook", CompensationText: "A voucher is in your account."}, config.CompensationWebhook,
			compensationView{Kind: "webhook", Status: "given", Text: "A voucher is in your account."}},
		{"webhook answered nothing for the viewer", Claim{State: ClaimCompensated, Compensation: "webhook"}, config.CompensationWebhook,
			compensationView{Kind: "webhook", Status: "given", Text: "The pickup did not work out. The creator has been told and compensates you directly."}},
		{"failed, no compensation", Claim{State: ClaimForwardFailed, Compensation: "none"}, config.CompensationNone,
			compensationView{Kind: "none", Status: "none", Text: "The pickup did not work out. This drop offers no compensation."}},
		// The policy changed after the failure: the claim says what was done.
		{"failed before the policy changed", Claim{State: ClaimPickupFailed, Compensation: "none"}, config.CompensationCode,
			compensationView{Kind: "none", Status: "none", Text: "The pickup did not work out. This drop offers no compensation."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Policy = compensationPolicy[tc.want.Kind]
			if got := compensation(&tc.cl, tc.policy); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Claims.Get reads what the node and the compensation wrote into the
// claim: the locker, the compensation done, its code and text.
func TestGetReadsLockerAndCompensation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		e := newClaimEnv(t, st, nil, claimDrop("spring", 5))
		e.open(t, "spring")
		res, err := e.claims.Claim(context.Background(), ClaimRequest{Code: "open-spring", Viewer: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		id := res.Claim.ID
		if err := st.HSet(context.Background(), store.DropKey("spring", "claim", id), map[string]string{"locker_slot": "B-14",
			"locker_pin": "4829", "compensation": "code", "compensation_code": "SORRY-1", "compensation_text": "text"}); err != nil {
			t.Fatal(err)
		}
		cl, err := e.claims.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Locker != (Locker{Slot: "B-14", PIN: "4829"}) || cl.Compensation != "code" || cl.CompensationCode != "SORRY-1" || cl.CompensationText != "text" {
			t.Fatalf("claim %+v", cl)
		}
	})
}
