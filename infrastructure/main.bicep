// The Azure side of the project: ADLS Gen2 for DATA_ROOT, a Databricks workspace for the job in
// databricks.yml, and the Linux VM that mirrors the local environment for `make sync`.
// Deploy: az deployment group create -g <rg> -f infrastructure/main.bicep \
//           -p sshPublicKey="$(cat ~/.ssh/id_ed25519.pub)" allowedSshSource=<your-ip>/32
// No secret is a default or an output: the VM takes an SSH public key only; the API tokens go into
// the Key Vault after deployment (`az keyvault secret set`, README "Azure"), never into a template.
// Per-environment values: infrastructure/main.dev.bicepparam, main.prod.bicepparam (`make deploy-infra`).
// Policy checks: checkov runs on this folder in `make test`; every skipped check names its reason
// in a `checkov:skip=` comment beside the resource.

@description('Prefix of every resource name (lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param prefix string = 'soundtracks'

@description('Azure region; defaults to the resource group\'s.')
param location string = resourceGroup().location

@description('Container of DATA_ROOT in the storage account.')
param dataContainer string = 'soundtracks'

@description('Admin user of the VM (VM_USER in .env).')
param adminUsername string = 'etl'

@description('SSH public key of the admin user; password login is disabled.')
param sshPublicKey string

@description('Address range allowed to reach the VM over SSH, e.g. 203.0.113.7/32. Never "*".')
param allowedSshSource string

@description('VM size: 2 vCPU and enough memory for Spark local mode, as the local machine.')
param vmSize string = 'Standard_D2s_v5'

@description('Object id of the "AzureDatabricks" enterprise application in your tenant (az ad sp show --id 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d --query id -o tsv): Databricks reads a Key Vault-backed secret scope as this principal.')
param azureDatabricksObjectId string

@description('Names of the Key Vault secrets the job and the VM read (values are set after deployment).')
param tmdbSecretName string = 'tmdb-api-token'
param discogsSecretName string = 'discogs-token'

@description('Object id of the service principal the Databricks job runs as (its Python code writes raw/ for SOURCE=api); empty: none.')
param jobPrincipalObjectId string = ''

@description('Storage firewall default. Deny: only the VM subnet, allowedSshSource, trusted services and the access connector.')
@allowed(['Deny', 'Allow'])
param storageDefaultAction string = 'Deny'

@description('Replication of the lake: zone-redundant by default; geo-redundant for prod if the region pair matters.')
@allowed(['Standard_ZRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_GZRS', 'Standard_RAGZRS'])
param storageSku string = 'Standard_ZRS'

@description('Encrypt the VM\'s disks and caches at the host. Needs the subscription feature Microsoft.Compute/EncryptionAtHost registered once.')
param encryptionAtHost bool = true

@description('Python the VM builds with pyenv: the runtime manifest\'s (runtimes/dbr-14.3-lts.txt).')
param pythonVersion string = '3.10.13'

var storageName = toLower('${prefix}${uniqueString(resourceGroup().id)}')

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  // checkov:skip=CKV_AZURE_206: sku comes from storageSku, which @allowed limits to zone- or geo-redundant SKUs; checkov does not read parameters
  // checkov:skip=CKV_AZURE_43: the name is computed (lower-case prefix + uniqueString, cut to 24), which the check cannot evaluate
  name: take(storageName, 24)
  location: location
  sku: { name: storageSku }
  kind: 'StorageV2'
  properties: {
    isHnsEnabled: true // ADLS Gen2: abfss:// paths and atomic folder renames
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // access through Entra ID identities only
    // Firewall: the VM's subnet (service endpoint), the admin's address for `make upload`, and trusted
    // Azure services (the Databricks access connector reaches it as one); everything else is denied.
    networkAcls: {
      defaultAction: storageDefaultAction
      bypass: 'AzureServices'
      ipRules: [{ value: allowedSshSource, action: 'Allow' }]
      virtualNetworkRules: [{ id: '${vnet.id}/subnets/vm', action: 'Allow' }]
      // Unity Catalog's access connector passes by its identity, from whatever network the cluster uses.
      resourceAccessRules: [{ tenantId: subscription().tenantId, resourceId: accessConnector.id }]
      // The Python SDK on a Databricks driver (SOURCE=api writing raw/) is not a trusted service: it
      // passes only from a VNet-injected workspace whose subnets are added here, or with storageDefaultAction=Allow.
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-01-01' = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = {
  parent: blobService
  name: dataContainer
  properties: { publicAccess: 'None' }
}

resource databricks 'Microsoft.Databricks/workspaces@2023-02-01' = {
  // checkov:skip=CKV2_AZURE_48: DBFS root holds no project data (DATA_ROOT is the ADLS account, platform-encrypted); a customer key adds a vault key to rotate for nothing
  // checkov:skip=CKV_AZURE_158: private link needs a VNet-injected workspace and private DNS zones; out of scope for this project size, the job's data path (UC access connector) is identity-gated
  name: '${prefix}-dbw'
  location: location
  sku: { name: 'premium' } // Unity Catalog external locations for the abfss:// DATA_ROOT
  properties: {
    managedResourceGroupId: subscriptionResourceId('Microsoft.Resources/resourceGroups', '${prefix}-dbw-managed')
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2023-05-01' = {
  name: '${prefix}-vm-nsg'
  location: location
  properties: {
    securityRules: [
      {
        name: 'ssh-from-allowed-source'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: allowedSshSource
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '22'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-05-01' = {
  name: '${prefix}-vnet'
  location: location
  properties: {
    addressSpace: { addressPrefixes: ['10.40.0.0/24'] }
    subnets: [
      {
        name: 'vm'
        properties: {
          addressPrefix: '10.40.0.0/26'
          networkSecurityGroup: { id: nsg.id }
          // The VM reaches the lake and the Key Vault over the Azure backbone, through their firewalls.
          serviceEndpoints: [{ service: 'Microsoft.Storage' }, { service: 'Microsoft.KeyVault' }]
        }
      }
    ]
  }
}

resource publicIp 'Microsoft.Network/publicIPAddresses@2023-05-01' = {
  name: '${prefix}-vm-ip'
  location: location
  sku: { name: 'Standard' }
  properties: { publicIPAllocationMethod: 'Static' }
}

resource nic 'Microsoft.Network/networkInterfaces@2023-05-01' = {
  name: '${prefix}-vm-nic'
  location: location
  properties: {
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          subnet: { id: vnet.properties.subnets[0].id }
          privateIPAllocationMethod: 'Dynamic'
          publicIPAddress: { id: publicIp.id }
        }
      }
    ]
  }
}

// cloud-init: the same system packages .ci/run installs, and the manifest's Python through pyenv,
// so `make sync` finds the same interpreter and Java on both sides.
var cloudInit = replace(replace(loadTextContent('cloud-init.yaml'), '__PYTHON_VERSION__', pythonVersion), '__ADMIN__', adminUsername)

resource vm 'Microsoft.Compute/virtualMachines@2023-07-01' = {
  name: '${prefix}-vm'
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    hardwareProfile: { vmSize: vmSize }
    securityProfile: { encryptionAtHost: encryptionAtHost }
    storageProfile: {
      imageReference: {
        publisher: 'Debian'
        offer: 'debian-12'
        sku: '12-gen2'
        version: 'latest'
      }
      osDisk: {
        createOption: 'FromImage'
        diskSizeGB: 64
        managedDisk: { storageAccountType: 'Premium_LRS' }
      }
    }
    osProfile: {
      computerName: '${prefix}-vm'
      adminUsername: adminUsername
      customData: base64(cloudInit)
      allowExtensionOperations: false // cloud-init does the set-up; no VM extension is needed
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [
            {
              path: '/home/${adminUsername}/.ssh/authorized_keys'
              keyData: sshPublicKey
            }
          ]
        }
      }
    }
    networkProfile: { networkInterfaces: [{ id: nic.id }] }
  }
}

// The VM's identity may read and write DATA_ROOT (Storage Blob Data Contributor).
resource vmDataAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, vm.id, storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: vm.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// Unity Catalog reaches the lake through this connector's managed identity (the job's storage identity).
resource accessConnector 'Microsoft.Databricks/accessConnectors@2023-05-01' = {
  name: '${prefix}-dbac'
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {}
}

// The API tokens of the job and the VM. RBAC authorization (no access policies), purge protection, and a
// firewall that denies by default: the VM's subnet and the admin's address are allowed, and trusted
// Microsoft services pass, which is how Databricks reads a Key Vault-backed secret scope.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${prefix}kv${uniqueString(resourceGroup().id)}', 24)
  location: location
  // The secrets this vault is to hold (names only; values are set with az keyvault secret set).
  tags: { tmdbSecret: tmdbSecretName, discogsSecret: discogsSecretName }
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled' // needed for the firewall rules below; defaultAction Deny closes the rest
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: [{ value: allowedSshSource }]
      virtualNetworkRules: [{ id: '${vnet.id}/subnets/vm', ignoreMissingVnetServiceEndpoint: false }]
    }
  }
}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// The VM's identity reads the two tokens at run time (make sync / make run fetch them, never store them).
resource vmSecretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, vm.id, keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: vm.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

// Databricks resolves {{secrets/<scope>/<key>}} of a Key Vault-backed scope as the AzureDatabricks app.
resource databricksSecretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, azureDatabricksObjectId, keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: azureDatabricksObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

// The job's storage identity (the access connector) reads and writes DATA_ROOT.
resource databricksDataAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, accessConnector.id, storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: accessConnector.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// The job's own service principal (optional): SOURCE=api writes raw/ through the Python SDK as it, and it
// reads the two tokens when the job runs outside the secret scope (e.g. a local `databricks bundle run`).
resource jobDataAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(jobPrincipalObjectId)) {
  name: guid(storage.id, jobPrincipalObjectId, storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: jobPrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

resource jobSecretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(jobPrincipalObjectId)) {
  name: guid(keyVault.id, jobPrincipalObjectId, keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: jobPrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

output vmHost string = publicIp.properties.ipAddress
output vmUser string = adminUsername
output dataRoot string = 'abfss://${dataContainer}@${storage.name}.dfs.core.windows.net/pipeline'
output databricksWorkspaceUrl string = databricks.properties.workspaceUrl
output keyVaultName string = keyVault.name
output keyVaultUrl string = keyVault.properties.vaultUri
output keyVaultResourceId string = keyVault.id
output accessConnectorId string = accessConnector.id
