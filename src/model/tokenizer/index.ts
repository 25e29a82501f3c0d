/** CLIP BPE tokenizer (SD1.5 / CLIP / OpenCLIP behaviour): public entry points. */
export { ClipTokenizer, type ClipTokenizerOptions, type EncodeOptions } from './clip-tokenizer';
export { cleanText, type CleanVariant } from './text-clean';
export { deriveClipVocab, deriveClipVocabFiles, serializeMergesTxt, serializeVocabJson } from './vocab-from-bpe';
