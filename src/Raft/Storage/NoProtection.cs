namespace Shoal.Raft.Storage;

/// <summary>Payloads are stored as they are (no encryption at rest).</summary>
public sealed class NoProtection : IPayloadProtector
{
    private NoProtection()
    {
    }

    /// <summary>The one instance.</summary>
    public static NoProtection Instance { get; } = new();

    /// <inheritdoc/>
    public int Overhead => 0;

    /// <inheritdoc/>
    public void Protect(ReadOnlySpan<byte> plain, Span<byte> output) => plain.CopyTo(output);

    /// <inheritdoc/>
    public bool TryUnprotect(ReadOnlySpan<byte> sealedData, Span<byte> output, out int written)
    {
        if (output.Length < sealedData.Length)
        {
            written = 0;
            return false;
        }

        sealedData.CopyTo(output);
        written = sealedData.Length;
        return true;
    }
}
