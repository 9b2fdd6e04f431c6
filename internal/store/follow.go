package store

import (
	"context"
	"time"
)

// Follow keeps a subscription to channel for as long as ctx lives. Each
// time it has subscribed it calls consume, which reads the subscription
// until its channel closes (the connection broke) or ctx ends; Follow then
// closes it and subscribes again. While the store does not answer it
// retries with a capped backoff (100 ms doubling to 5 s), telling onError
// when non-nil. Follow returns when ctx ends.
//
// consume is where a follower re-reads what may have changed while it was
// not subscribed: messages published then are lost.
func Follow(ctx context.Context, st Store, channel string, onError func(err error, retryIn time.Duration), consume func(Subscription)) {
	retry := 100 * time.Millisecond
	for ctx.Err() == nil {
		sub, err := st.Subscribe(ctx, channel)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if onError != nil {
				onError(err, retry)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(retry*2, 5*time.Second)
			continue
		}
		retry = 100 * time.Millisecond
		consume(sub)
		_ = sub.Close()
	}
}
