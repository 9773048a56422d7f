package crypt

import "testing"

// TestDocumentedRecipientParses keeps the recipient the examples and docs
// show a valid one.
func TestDocumentedRecipientParses(t *testing.T) {
	if _, err := ParseRecipients([]string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}); err != nil {
		t.Fatal(err)
	}
}
