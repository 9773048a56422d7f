terraform {
  required_version = ">= 1.5"
  required_providers {
    lifeboat = {
      source = "lifeboat-dr/lifeboat"
    }
  }
}
