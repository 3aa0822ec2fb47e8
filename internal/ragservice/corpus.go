// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

// DemoConfiguration is the name of the demo configuration.
const DemoConfiguration = "demo-kb"

// DefaultConfigurations returns the demo configuration: demo-kb, without security, with a similarity
// threshold of 0.1 and DefaultCorpus indexed.
func DefaultConfigurations() []Configuration {
	return []Configuration{{
		Name:      DemoConfiguration,
		Config:    map[string]any{"similarity_threshold": 0.1, "retrieval_k": 5},
		Documents: DefaultCorpus(),
	}}
}

// DefaultCorpus is eight short documents of two tenants (acme, globex), published and draft, public and
// internal, so that a test can show that a tenant filter keeps the other tenant's documents out. Both
// tenants have a vacation policy and a security policy with overlapping words, so an unfiltered query
// finds documents of both.
func DefaultCorpus() []Document {
	doc := func(id, tenant, dept, status, access, title, content string) Document {
		return Document{ID: id, Filename: id + ".txt", Content: content, Metadata: map[string]any{
			"tenant": tenant, "department": dept, "status": status, "access_level": access, "title": title,
		}}
	}
	return []Document{
		doc("acme-001", "acme", "hr", "published", "public", "Acme vacation policy",
			"Acme employees receive 25 vacation days per year. Vacation requests go to your manager two weeks ahead."),
		doc("acme-002", "acme", "security", "published", "internal", "Acme security policy",
			"Acme requires hardware security keys for every login. The security team rotates VPN certificates monthly."),
		doc("acme-003", "acme", "engineering", "draft", "internal", "Acme release plan",
			"The Acme rocket skates release ships in March. Draft plan: beta testers get early access in February."),
		doc("acme-004", "acme", "sales", "published", "public", "Acme pricing",
			"Acme rocket skates cost 499 dollars. Volume discounts start at ten pairs."),
		doc("globex-001", "globex", "hr", "published", "public", "Globex vacation policy",
			"Globex employees receive 30 vacation days per year. Vacation carries over for one year."),
		doc("globex-002", "globex", "security", "published", "internal", "Globex security policy",
			"Globex security requires badge access to every lab. The secret project codename is Hammock."),
		doc("globex-003", "globex", "engineering", "draft", "internal", "Globex merger memo",
			"Globex plans to acquire Initech next quarter. This draft memo is confidential."),
		doc("globex-004", "globex", "support", "published", "public", "Globex support hours",
			"Globex support answers every day from 8 to 20. Premium customers get a phone line."),
	}
}
