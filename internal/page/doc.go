// Package page assembles the home page: it fans out one call per section at
// the same time, bounds the whole by the page deadline, and writes one JSON
// document from the sections' raw bodies plus a meta block.
//
// Bodies are copied into the page as raw JSON; nothing is decoded and
// re-encoded, so a page costs little more than its bytes.
package page
