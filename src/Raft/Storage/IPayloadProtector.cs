namespace Shoal.Raft.Storage;

/// <summary>
/// Seals the payload of every WAL record and snapshot file before it is written and opens it when it is read: the
/// hook for encryption at rest (autolock). Checksums are computed over the sealed bytes, so corruption is found
/// without the key. Implementations must be deterministic in size: a sealed payload is always
/// <c>plain.Length + Overhead</c> bytes.
/// </summary>
public interface IPayloadProtector
{
    /// <summary>Bytes a sealed payload has beyond the plain one (nonce, tag).</summary>
    int Overhead { get; }

    /// <summary>Seals <paramref name="plain"/> into <paramref name="output"/>, which is exactly
    /// <c>plain.Length + Overhead</c> bytes long.</summary>
    void Protect(ReadOnlySpan<byte> plain, Span<byte> output);

    /// <summary>Opens <paramref name="sealedData"/> into <paramref name="output"/> (at least
    /// <c>sealedData.Length - Overhead</c> bytes). False when it does not open: too short, or sealed with another key.</summary>
    bool TryUnprotect(ReadOnlySpan<byte> sealedData, Span<byte> output, out int written);
}
