// Command loft is the Loft chat server.
//
//	loft [serve] [flags]   run the server (the default)
//	loft token USER        print a JWT for USER signed with the server's secret
//
// Every flag can also be set with a LOFT_* environment variable; `loft
// --help` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loft:", err)
		os.Exit(1)
	}
}

// run dispatches to a sub-command; getenv supplies LOFT_* settings.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "token") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "token":
		return runToken(args, getenv, stdout, stderr)
	default:
		cfg, err := parseConfig("loft", args, getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr, nil)
	}
}
