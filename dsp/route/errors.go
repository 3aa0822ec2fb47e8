// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import "errors"

// Errors that fail a whole Compile. Problems with single routes are warnings, not errors, so that one bad
// route does not take a project's other routes down.
var (
	// ErrNoManifest is returned when Compile gets a nil manifest.
	ErrNoManifest = errors.New("no manifest")
	// ErrInvalidProject is returned when the project id does not match the Control Tower's project id
	// pattern, since such an id cannot appear as the first path segment of a routable request.
	ErrInvalidProject = errors.New("invalid project id")
)
