// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import "errors"

var (
	// ErrNotFound means the source says the project does not exist: a Control Tower 404 or 400, a missing
	// file, or an id that fails manifest.ValidProjectID. The Resolver remembers it for Config.NegativeTTL.
	ErrNotFound = errors.New("project not found")

	// ErrUnavailable means the source could not answer: connection errors, timeouts, 5xx after the retries,
	// unexpected statuses, unreadable files. The Resolver then serves a stale or last-good copy if it can.
	ErrUnavailable = errors.New("manifest source unavailable")

	// ErrMalformed is wrapped by Entry.Err when the source served a manifest that does not decode, resolve or
	// compile. The error chain also holds the cause (often wrapping manifest.ErrInvalid).
	ErrMalformed = errors.New("malformed manifest")

	// ErrTooLarge means a manifest document is over the source's MaxSize (the dsp app's max_manifest_size).
	// Errors wrapping it also wrap manifest.ErrInvalid: the document is refused like a malformed one (a good
	// version already served stays), and retrying would read the same bytes again. Its text is the code
	// operators see in the log and the admin API.
	ErrTooLarge = errors.New("manifest_too_large")
)
