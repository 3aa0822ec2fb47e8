// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

// Usage is the token count of one completion.
type Usage struct {
	Prompt, Completion, Total int64
}
