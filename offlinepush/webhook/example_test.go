package webhook_test

import (
	"io"
	"net/http"
	"time"

	"github.com/loftchat/loft/offlinepush/webhook"
)

// A receiver checks the signature over the raw body before it decodes it.
func ExampleVerify() {
	secret := []byte("the Config.Secret shared with Loft")
	http.HandleFunc("POST /loft/push", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Decode body as a webhook.Payload and push it; answer 410 for a
		// token the app's push service says is gone.
		w.WriteHeader(http.StatusNoContent)
	})
}
