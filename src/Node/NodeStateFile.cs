using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoal.Node;

/// <summary>
/// <c>node.json</c> in the data directory (DESIGN §2): who this node is in which swarm, where it listens, and the
/// managers it last heard of, so a restart reconnects without being told again. Written atomically (temp + rename).
/// </summary>
public sealed class NodeStateFile
{
    public const string FileName = "node.json";

    public string NodeId { get; set; } = string.Empty;

    public string ClusterId { get; set; } = string.Empty;

    /// <summary>The cluster port's listen address when this node is a manager.</summary>
    public string ListenAddress { get; set; } = string.Empty;

    /// <summary>host:port other nodes dial; empty: derived from the listen address.</summary>
    public string AdvertiseAddress { get; set; } = string.Empty;

    /// <summary>Managers' cluster ports (host:port), most recent list first.</summary>
    public List<string> Managers { get; set; } = [];

    /// <summary>Reads the file of <paramref name="dataDirectory"/>, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">The file exists but cannot be read as node state.</exception>
    public static NodeStateFile? Load(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), NodeStateJsonContext.Default.NodeStateFile)
                ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid node state ({e.Message}); if the node should leave its swarm, remove the data directory", e);
        }
    }

    /// <summary>Writes the file into <paramref name="dataDirectory"/> atomically.</summary>
    public void Save(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, FileName);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, NodeStateJsonContext.Default.NodeStateFile));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Removes the file of <paramref name="dataDirectory"/>.</summary>
    public static void Delete(string dataDirectory) => File.Delete(Path.Combine(dataDirectory, FileName));
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(NodeStateFile))]
internal sealed partial class NodeStateJsonContext : JsonSerializerContext;
