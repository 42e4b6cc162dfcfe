package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/chat/httpapi"
)

// loadAPIKeys reads the --api-keys file, strictly. No file: no keys, and
// every API call but /healthz and /readyz is answered 401.
func loadAPIKeys(path string) ([]httpapi.Key, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	var entries []struct {
		Name   string          `json:"name"`
		Secret string          `json:"secret"`
		Scopes []httpapi.Scope `json:"scopes"`
		Rate   float64         `json:"rate"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("api keys %s: %w", path, err)
	}
	keys := make([]httpapi.Key, len(entries))
	for i, e := range entries {
		if e.Name == "" {
			return nil, fmt.Errorf("api keys %s: key %d has no name", path, i)
		}
		keys[i] = httpapi.Key{Name: e.Name, Secret: e.Secret, Scopes: e.Scopes, Rate: e.Rate}
	}
	return keys, nil
}

// minter signs client tokens with the server's HS256 secret; with a public
// key configured the server cannot sign, and POST /v1/tokens says so.
func minter(cfg config) httpapi.TokenMinter {
	if cfg.JWTPublicKey != "" {
		return nil
	}
	return func(user, device, platform string, ttl time.Duration) (string, time.Time, error) {
		secret, err := loadSecret(cfg)
		if err != nil {
			return "", time.Time{}, err
		}
		now := time.Now()
		tok, err := chat.SignHS256(secret, chat.Claims{User: user, Expires: now.Add(ttl), Device: device, Platform: platform}, now, cfg.JWTIssuer, cfg.JWTAudience)
		return tok, now.Add(ttl), err
	}
}
