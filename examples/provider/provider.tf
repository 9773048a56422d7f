# Every setting is optional: the AWS environment variables and credential chain
# (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_S3, profiles...) and the
# LIFEBOAT_S3_* variables fill what is not set here.
provider "lifeboat" {
  endpoint   = "http://127.0.0.1:9000" # MinIO; omit for AWS S3
  region     = "us-east-1"
  path_style = true
  # access_key / secret_key: prefer the environment or an AWS profile.

  # age identities (mode 0600) that restores and drills decrypt client-side
  # encrypted backups with; only the path reaches the state.
  identity_file = "/etc/lifeboat/restorer.age"
}
