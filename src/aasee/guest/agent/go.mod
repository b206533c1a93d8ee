module aaseeagent

go 1.19
