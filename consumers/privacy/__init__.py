"""Personal data: erasure on request and after retention (`service`), its record (`tables`), `hub privacy`."""
