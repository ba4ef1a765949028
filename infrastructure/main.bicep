// The Azure side of the project: ADLS Gen2 for DATA_ROOT, a Databricks workspace for the job in
// databricks.yml, and the Linux VM that mirrors the local environment for `make sync`.
// Deploy: az deployment group create -g <rg> -f infrastructure/main.bicep \
//           -p sshPublicKey="$(cat ~/.ssh/id_ed25519.pub)" allowedSshSource=<your-ip>/32
// No secret is a default or an output: the VM takes an SSH public key only.

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

@description('Python the VM builds with pyenv: the runtime manifest\'s (runtimes/dbr-14.3-lts.txt).')
param pythonVersion string = '3.10.13'

var storageName = toLower('${prefix}${uniqueString(resourceGroup().id)}')

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: take(storageName, 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    isHnsEnabled: true // ADLS Gen2: abfss:// paths and atomic folder renames
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // access through Entra ID identities only
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
  name: guid(storage.id, vm.id, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: storage
  properties: {
    principalId: vm.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  }
}

output vmHost string = publicIp.properties.ipAddress
output vmUser string = adminUsername
output dataRoot string = 'abfss://${dataContainer}@${storage.name}.dfs.core.windows.net/pipeline'
output databricksWorkspaceUrl string = databricks.properties.workspaceUrl
