// Production environment: `make deploy-infra ENV=prod RG=<resource-group>`. Values that differ per
// person (SSH key, address, tenant object id) come from the environment, never from this file.
using 'main.bicep'

param prefix = 'sndtrkprod'
param vmSize = 'Standard_D4s_v5'
param sshPublicKey = readEnvironmentVariable('SSH_PUBLIC_KEY')
param allowedSshSource = readEnvironmentVariable('ALLOWED_SOURCE')
param azureDatabricksObjectId = readEnvironmentVariable('AZURE_DATABRICKS_OBJECT_ID')
