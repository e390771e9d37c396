module github.com/dwcp-observer/dwcp-observer/bindings/go/dwcpmetrics

go 1.19
