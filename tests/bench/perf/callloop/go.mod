module dwcpbench/callloop

go 1.19
