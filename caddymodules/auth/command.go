// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/dsp-ai/fd2/dsp/auth"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "keys",
		Usage: "create|list|revoke (--file <path> | --redis <url>) [flags]",
		Short: "Manages FD2 API keys (dsp_auth api_keys)",
		Long: `Manages the API keys that dsp_auth accepts (api_keys file <path> or api_keys redis).

A key is shown once, at creation: only its SHA-256 hash is stored. Rotation is two keys at once:
create the new one, move clients over, then revoke the old one. With Redis, revocation reaches every
FD2 instance within a second.

  fd2 keys create --file keys.json --owner team-a --projects demo --models gpt-4o --expires 720h
  fd2 keys list   --file keys.json
  fd2 keys revoke --file keys.json <id>`,
		CobraFunc: keysCommand,
	})
}

func keysCommand(cmd *cobra.Command) {
	var file, redisURL, prefix string
	cmd.PersistentFlags().StringVar(&file, "file", "", "key file (JSON or YAML)")
	cmd.PersistentFlags().StringVar(&redisURL, "redis", "", "Redis URL (redis://host:port/db)")
	cmd.PersistentFlags().StringVar(&prefix, "prefix", "fd2:", "Redis key prefix")
	open := func() (auth.KeyStore, func(), error) {
		switch {
		case file != "" && redisURL != "":
			return nil, nil, errors.New("choose one of --file and --redis")
		case file != "":
			fs := &auth.FileStore{Path: file}
			if err := fs.Open(); err != nil {
				return nil, nil, fmt.Errorf("opening %s: %w", file, err)
			}
			return fs, func() {}, nil
		case redisURL != "":
			rc, err := newRedis(redisURL)
			if err != nil {
				return nil, nil, err
			}
			return &auth.RedisStore{Client: rc, Prefix: prefix}, func() { _ = rc.Close() }, nil
		}
		return nil, nil, errors.New("--file or --redis is required")
	}

	var owner, desc, tier, expires string
	var projects, modules, models []string
	var rateLimit int
	create := &cobra.Command{
		Use:   "create",
		Short: "Creates a key and prints it once",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			store, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			if owner == "" {
				return errors.New("--owner is required")
			}
			plain, rec, err := auth.NewAPIKey(owner)
			if err != nil {
				return err
			}
			rec.Description, rec.Tier, rec.RateLimit = desc, tier, rateLimit
			rec.Projects, rec.Modules, rec.Models = projects, modules, models
			if expires != "" {
				d, err := time.ParseDuration(expires)
				if err != nil || d <= 0 {
					return fmt.Errorf("--expires: invalid duration %q", expires)
				}
				t := time.Now().Add(d).UTC()
				rec.ExpiresAt = &t
			}
			if err := store.Create(context.Background(), rec); err != nil {
				return fmt.Errorf("storing key: %w", err)
			}
			return printCreated(c.OutOrStdout(), plain, rec)
		},
	}
	create.Flags().StringVar(&owner, "owner", "", "owner (team or service); required")
	create.Flags().StringVar(&desc, "description", "", "description")
	create.Flags().StringSliceVar(&projects, "projects", nil, "allowed projects (default all)")
	create.Flags().StringSliceVar(&modules, "modules", nil, "allowed modules (default all)")
	create.Flags().StringSliceVar(&models, "models", nil, "allowed models (default all)")
	create.Flags().IntVar(&rateLimit, "rate-limit", 0, "rate_limit carried to the rate limiter (0 = none)")
	create.Flags().StringVar(&tier, "tier", "", "tier")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 720h (default: no expiry)")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists keys (ids and metadata; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			store, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			keys, err := store.List(context.Background())
			if err != nil {
				return fmt.Errorf("listing keys: %w", err)
			}
			return printList(c.OutOrStdout(), keys)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke <id>",
		Short: "Revokes a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			store, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			if err := store.Revoke(context.Background(), args[0]); err != nil {
				return fmt.Errorf("revoking key %s: %w", args[0], err)
			}
			fmt.Fprintf(c.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
}

func printCreated(w io.Writer, plain string, rec auth.APIKey) error {
	_, err := fmt.Fprintf(w, "id:     %s\nowner:  %s\nkey:    %s\n\nThe key is shown only now; FD2 stores its hash.\n", rec.ID, rec.Owner, plain)
	return err
}

func printList(w io.Writer, keys []auth.APIKey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tPROJECTS\tMODELS\tEXPIRES\tSTATUS")
	for _, k := range keys {
		exp, status := "-", "active"
		if k.ExpiresAt != nil {
			exp = k.ExpiresAt.UTC().Format(time.RFC3339)
			if time.Now().After(*k.ExpiresAt) {
				status = "expired"
			}
		}
		if k.Revoked {
			status = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Owner, orAll(k.Projects), orAll(k.Models), exp, status)
	}
	return tw.Flush()
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "*"
	}
	return strings.Join(s, ",")
}
