module handlebench

go 1.19
