export { defineTemplate, jsonSchemaOf, PromptAnswerError, DATA_RULE, type ChatMessage, type PromptTemplate, type TemplateSpec, type VarKind } from './template.ts';
export {
  PROMPTS,
  promptVersions,
  RELATION_HINTS,
  kcExtraction,
  kcFilter,
  synonymCheck,
  problemSynthesis,
  difficultyRating,
  solution,
  problemJudgement,
  solutionJudgement,
  withBoxedAnswer,
  problemScoreOf,
  type PromptName,
} from './templates.ts';
