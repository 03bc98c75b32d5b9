using Google.Protobuf;

namespace Shoal.Api;

/// <summary>
/// A top-level object kept in the store: it has an identity and a <see cref="Api.Meta"/>.
/// The generated messages implement it through the partial declarations below.
/// </summary>
public interface IStoreObject : IMessage
{
    string Id { get; }

    Meta Meta { get; set; }
}

public partial class Node : IStoreObject;

public partial class Service : IStoreObject;

public partial class SwarmTask : IStoreObject;

public partial class Cluster : IStoreObject;

public partial class Network : IStoreObject;

public partial class Secret : IStoreObject;

public partial class Config : IStoreObject;
