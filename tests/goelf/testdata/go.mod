module example.com/goelftest

go 1.19
