//go:build !unix

package h1

func isConnRefused(err error) bool { return err != nil }
