"""The deployed coordinator: the federation folder, PKI, enrolment, the Fleet proxy, starting the SuperLink."""
