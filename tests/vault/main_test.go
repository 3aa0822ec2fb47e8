// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package vault_test

import (
	"testing"

	"github.com/hashicorp/vault/api"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/vault"
	"go.uber.org/zap"
	"github.com/hashicorp/vault/builtin/credential/approle"
	"github.com/hashicorp/vault/sdk/logical"

	_ "github.com/dsp-ai/fd2/dsp/manifest"
)

var _ = api.NewClient
var _ = vaulthttp.TestServer
var _ = vault.TestCoreUnsealed
var _ = zap.NewNop
var _ = approle.Factory
var _ logical.Factory
func TestPlaceholder(t *testing.T) {}
