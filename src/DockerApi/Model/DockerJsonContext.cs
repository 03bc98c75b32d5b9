using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>
/// Source-generated JSON for the Docker model (AOT-safe): property names exactly as declared (Docker's PascalCase),
/// nulls omitted, names matched case-insensitively on input as Go does.
/// </summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(Node))]
[JsonSerializable(typeof(List<Node>))]
[JsonSerializable(typeof(NodeSpec))]
[JsonSerializable(typeof(Swarm))]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(SwarmInitRequest))]
[JsonSerializable(typeof(SwarmJoinRequest))]
[JsonSerializable(typeof(UnlockKeyResponse))]
[JsonSerializable(typeof(Info))]
[JsonSerializable(typeof(SystemVersion))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(Service))]
[JsonSerializable(typeof(List<Service>))]
[JsonSerializable(typeof(ServiceSpec))]
[JsonSerializable(typeof(ServiceCreateResponse))]
[JsonSerializable(typeof(ServiceUpdateResponse))]
[JsonSerializable(typeof(SwarmTask))]
[JsonSerializable(typeof(List<SwarmTask>))]
[JsonSerializable(typeof(string))]
public sealed partial class DockerJsonContext : JsonSerializerContext;
