using System.Security.Cryptography;

namespace Shoal.Raft.Storage;

/// <summary>
/// AES-256-GCM with a data key: a sealed payload is <c>nonce (12 bytes, random per payload) ‖ ciphertext ‖ tag
/// (16 bytes)</c>. A random 96-bit nonce stays safe for far more payloads than one data key will ever seal (the
/// collision bound is about 2^32 messages). Safe to share between the WAL and the snapshot store: calls are serialized.
/// </summary>
public sealed class AesGcmProtection : IPayloadProtector, IDisposable
{
    /// <summary>Length of the data key.</summary>
    public const int KeySize = 32;

    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly AesGcm _aes;
    private readonly Lock _lock = new();

    /// <summary>Creates the protector; <paramref name="dataKey"/> must be 32 bytes (it is copied).</summary>
    public AesGcmProtection(byte[] dataKey)
    {
        ArgumentNullException.ThrowIfNull(dataKey);
        if (dataKey.Length != KeySize)
        {
            throw new ArgumentException($"the data key must be {KeySize} bytes (got {dataKey.Length})", nameof(dataKey));
        }

        _aes = new AesGcm(dataKey, TagSize);
    }

    /// <inheritdoc/>
    public int Overhead => NonceSize + TagSize;

    /// <inheritdoc/>
    public void Protect(ReadOnlySpan<byte> plain, Span<byte> output)
    {
        if (output.Length != plain.Length + Overhead)
        {
            throw new ArgumentException($"the output must be {plain.Length + Overhead} bytes (got {output.Length})", nameof(output));
        }

        var nonce = output[..NonceSize];
        RandomNumberGenerator.Fill(nonce);
        lock (_lock)
        {
            _aes.Encrypt(nonce, plain, output.Slice(NonceSize, plain.Length), output[(NonceSize + plain.Length)..]);
        }
    }

    /// <inheritdoc/>
    public bool TryUnprotect(ReadOnlySpan<byte> sealedData, Span<byte> output, out int written)
    {
        written = 0;
        var length = sealedData.Length - Overhead;
        if (length < 0 || output.Length < length)
        {
            return false;
        }

        try
        {
            lock (_lock)
            {
                _aes.Decrypt(sealedData[..NonceSize], sealedData.Slice(NonceSize, length), sealedData[(NonceSize + length)..], output[..length]);
            }
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }

        written = length;
        return true;
    }

    /// <summary>Releases the key schedule.</summary>
    public void Dispose() => _aes.Dispose();
}
