// Package campaigns will hold the campaign rules marketers write in YAML
// (DESIGN.md §5): triggers, audiences, limits and actions. It imports no
// HTTP, queue, WeChat or SQL package.
package campaigns
