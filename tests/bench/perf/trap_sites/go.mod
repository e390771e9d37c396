module trapsites

go 1.19
