package sdkhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/internal/config"
)

// SignRequest returns the headers a vendor sends with body to src's
// webhook, signed with the source's first (newest) secret: the three
// Standard Webhooks headers; an Authorization bearer JWT (HS256) carrying
// the body's SHA-256; or the Twitch EventSub headers of a notification.
// It is what `dropwire sign` prints and `dropwire bench` sends.
func SignRequest(src config.Source, id string, now time.Time, body []byte) (http.Header, error) {
	if len(src.Secrets) == 0 {
		return nil, fmt.Errorf("%w: source %q has no secret to sign with", ErrInvalidKey, src.ID)
	}
	secret := src.Secrets[0]
	h := make(http.Header, 4)
	switch src.Scheme {
	case config.SchemeStandard:
		s, err := NewSigner(secret)
		if err != nil {
			return nil, err
		}
		h = s.Headers(id, now, body)
	case config.SchemeJWT:
		key := []byte(secret)
		if strings.HasPrefix(secret, secretPrefix) {
			var err error
			if key, err = decodeSecret(secret); err != nil {
				return nil, err
			}
		}
		sum := sha256.Sum256(body)
		claims, err := json.Marshal(map[string]any{
			"sha256": base64.StdEncoding.EncodeToString(sum[:]),
			"iat":    now.Unix(),
			"exp":    now.Add(5 * time.Minute).Unix(),
			"jti":    id,
			"iss":    src.ID,
		})
		if err != nil {
			return nil, err
		}
		token, err := jws.Sign(claims, jws.WithKey(jwa.HS256, key))
		if err != nil {
			return nil, fmt.Errorf("sign jwt: %w", err)
		}
		h.Set("Authorization", "Bearer "+string(token))
	case config.SchemeTwitch:
		ts := now.UTC().Format(time.RFC3339Nano)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(id))
		mac.Write([]byte(ts))
		mac.Write(body)
		h.Set(HeaderTwitchMessageID, id)
		h.Set(HeaderTwitchMessageTimestamp, ts)
		h.Set(HeaderTwitchMessageSignature, "sha256="+hex.EncodeToString(mac.Sum(nil)))
		h.Set(HeaderTwitchMessageType, twitchNotification)
		if len(src.Triggers) > 0 {
			h.Set(HeaderTwitchSubscriptionType, src.Triggers[0].Subscription)
		}
	default:
		return nil, fmt.Errorf("%w %q for source %q", ErrUnknownScheme, src.Scheme, src.ID)
	}
	h.Set("Content-Type", "application/json")
	return h, nil
}
