using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Output;

/// <summary>
/// JSON as docker's <c>inspect</c> commands print it: indented by four spaces, followed by a newline. Characters
/// are escaped only where JSON requires it, so certificates and labels read as they are.
/// </summary>
internal static class InspectJson
{
    /// <summary>The Docker model's source-generated context, indented.</summary>
    public static DockerJsonContext Context { get; } = new(new JsonSerializerOptions(DockerJsonContext.Default.Options)
    {
        WriteIndented = true,
        IndentSize = 4,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Writes <paramref name="value"/> and a newline.</summary>
    public static void Write<T>(TextWriter output, T value, JsonTypeInfo<T> type)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.Write(JsonSerializer.Serialize(value, type));
        output.Write('\n');
    }
}
