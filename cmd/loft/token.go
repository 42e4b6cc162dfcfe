package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/loftchat/loft/chat"
)

// runToken prints a token for a user, signed with the server's HS256 secret,
// so that anyone can try the server at once.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	var ttl time.Duration
	fs := newFlagSet("loft token USER", stderr, func(fs *flag.FlagSet) {
		c.flags(fs)
		fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	})
	// Flags may come before or after the user name.
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("token: name the user")
	}
	user := rest[0]
	if !chat.ValidID(user) {
		return fmt.Errorf("token: %q is not a valid user id (1-64 letters, digits or . _ - @)", user)
	}
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	if c.JWTPublicKey != "" {
		return fmt.Errorf("token: the server verifies tokens with a public key; sign them with its private key")
	}
	secret, err := loadSecret(c)
	if err != nil {
		return err
	}
	now := time.Now()
	signed, err := chat.SignHS256(secret, chat.Claims{User: user, Expires: now.Add(ttl)}, now, c.JWTIssuer, c.JWTAudience)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, signed)
	return err
}
